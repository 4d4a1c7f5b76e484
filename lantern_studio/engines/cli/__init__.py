"""Command-line subcommands of launch.py (compose, storyboard); each module has run(args, settings)."""
