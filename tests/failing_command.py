"""A stand-in ``probmoll`` sub-command that fails, for tests/test_cli.py."""


def add_arguments(parser):
    parser.add_argument("--kind", default="runtime")


def run(args):
    if args.kind == "key":
        raise KeyError("checkpoint")
    raise RuntimeError("the file broke\nin two lines")
