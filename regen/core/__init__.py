"""What every layer uses: errors, config, progress, console tables, the Executor protocol, waiting, private files."""
