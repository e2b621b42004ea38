"""CPython host tools of pumpside: bench, virtual board, demo and the `pumpside` CLI."""
