import sys

from tram_bench.cli import main

sys.exit(main())
