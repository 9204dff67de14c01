import sys

from medunet.cli import main

sys.exit(main(["bundle", *sys.argv[1:]]))
