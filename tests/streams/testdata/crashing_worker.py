"""A Forewarn worker with one extra agent that raises on a b"boom" record (health tests).

Run as ``python crashing_worker.py TOPIC`` with the usual settings environment:
the real app from ``create_app`` plus the poison agent, run by a real Faust worker.
Importing this file does nothing (pytest's doctest collection imports it).
"""


def main(topic: str) -> None:
    import faust

    from streams.app import create_app
    from streams.settings import Settings

    app = create_app(Settings())
    poison = app.topic(topic, value_serializer="raw", key_serializer="raw")

    @app.agent(poison, name="test.poison")
    async def eat(stream):
        async for value in stream:
            if value == b"boom":
                raise RuntimeError("poison record: boom")

    faust.Worker(app, loglevel="info").execute_from_commandline()


if __name__ == "__main__":
    import sys

    main(sys.argv[1])
