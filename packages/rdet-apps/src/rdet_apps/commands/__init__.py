"""One module per ``rdet`` subcommand; each has ``HELP``, ``add_arguments(parser)`` and ``run(args)``."""
