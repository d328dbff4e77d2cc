from zkgrad.cli.main import run

run()
