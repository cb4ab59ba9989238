"""The forewarn command-line tool."""
