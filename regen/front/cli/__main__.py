"""``python -m regen.front.cli TASK``: the same as ``regenlab TASK`` (the soak runs it so)."""

from . import main

main()
