"""Stage orchestration: build everything a CLI command needs and run it (the CLI modules stay thin)."""
