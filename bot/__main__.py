"""`python -m bot …` is the `expertpanel` command. A Ctrl-C while Python is still importing (the
first seconds of `./run.sh`) ends quietly too; the CLI turns a later Ctrl-C into a clean stop."""
import sys

try:
    from bot.cli import main
except KeyboardInterrupt:
    sys.exit(130)

sys.argv[0] = "expertpanel"
main()
