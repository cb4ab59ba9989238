"""Redis implementations of the engines' state-store interfaces."""
