"""Command modules of the forewarn CLI; each exposes register(app, bench)."""
