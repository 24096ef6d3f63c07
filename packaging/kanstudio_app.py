"""Entry point of the frozen (PyInstaller) app: the same as the ``kanstudio`` command.

``multiprocessing.freeze_support()`` comes first: the training worker is a process started
with ``spawn`` (kanstudio/worker/client.py), and in a frozen app that process is this same
executable, started with multiprocessing's own arguments. freeze_support() recognises them,
runs the worker (or multiprocessing's resource tracker) and exits, so the child never reaches
the command line parser or opens a second window.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()

    from kanstudio.cli import main

    sys.exit(main())
