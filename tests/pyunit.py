"""pyunit: runs Python test modules as `python3 -m unittest -v` does, but
makes a skip visible to ctest: exit 0 only when every test ran and passed,
1 on a failure or when nothing ran, and 77 (ctest SKIP_RETURN_CODE) when
all that ran passed but some test was skipped, after naming each skip and
its reason.

    python3 tests/pyunit.py MODULE [MODULE...]   (from the modules' folder)
"""
import os
import sys
import unittest

SKIP = 77


def main(names):
    if not names:
        print("usage: pyunit.py MODULE [MODULE...]", file=sys.stderr)
        return 2
    sys.path.insert(0, os.getcwd())
    suite = unittest.defaultTestLoader.loadTestsFromNames(names)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if not result.wasSuccessful():
        return 1
    if result.testsRun == 0:
        print(f"pyunit: no tests ran in {' '.join(names)}", file=sys.stderr)
        return 1
    if result.skipped:
        for test, reason in result.skipped:
            print(f"SKIPPED: {test.id()}: {reason}")
        print(f"pyunit: {len(result.skipped)} of {result.testsRun} tests skipped: "
              f"reporting the whole run as skipped")
        return SKIP
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
