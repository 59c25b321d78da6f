"""One module per ``reconstudy`` subcommand; each defines ``register(subparsers)``."""
