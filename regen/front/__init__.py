"""The front: what users type and run. ``cli`` (invoke's tasks; the ``regenlab`` command, and
``tasks.py`` at the checkout's top) parses arguments, calls one job or library function and
prints; nothing else under regen/ imports invoke or prints."""
