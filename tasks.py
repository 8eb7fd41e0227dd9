"""invoke's tasks file of the checkout (`invoke --list`). The commands live in
``regen/front/cli/``, which the installed package also runs as the ``regenlab`` command."""

from regen.front.cli import ns  # noqa: F401 (invoke reads the collection named ns)
