"""Commands of this area (filled in by its owner)."""


def add_commands(cli):
    pass
