"""How the app starts: the CLI dispatch, and a GUI process that never needs torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import kanstudio.gui
from kanstudio import cli
from tests.gui.conftest import SAMPLES


def test_cli_opens_the_window_without_a_command(monkeypatch):
    opened = []
    monkeypatch.setattr(kanstudio.gui, "main", lambda paths: opened.append(paths) or 0)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert cli.main([]) == 0
    assert cli.main(["data.csv"]) == 0
    assert cli.main(["study.kstudio"]) == 0
    assert opened == [[], ["data.csv"], ["study.kstudio"]]
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0


def test_headless_commands_do_not_import_qt(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        from kanstudio import cli
        code = cli.main(["fit", {str(tmp_path / 'missing.csv')!r}])
        print(code, "PySide6" in sys.modules, "pyqtgraph" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.split() == ["2", "False", "False"], out.stderr


def test_the_window_process_never_imports_torch(tmp_path):
    code = textwrap.dedent(f"""
        import os, sys, time
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        os.environ["KANSTUDIO_SETTINGS_DIR"] = {str(tmp_path)!r}

        def main():
            from kanstudio.gui.app import create_application
            app = create_application()
            from kanstudio.gui.main_window import MainWindow
            window = MainWindow()
            window.show()
            app.processEvents()
            shown = "torch" in sys.modules
            window.start_worker()
            window.projects.open_csv({str(SAMPLES / 'toy_xy.csv')!r})
            deadline = time.time() + 120
            while not window.state.engine.has_data and time.time() < deadline:
                app.processEvents()
                time.sleep(0.01)
            print(shown, "torch" in sys.modules, bool(window.state.engine.has_data))
            window.close()

        if __name__ == "__main__":
            main()
    """)
    script = tmp_path / "start.py"
    script.write_text(code, encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=180)
    assert out.stdout.split() == ["False", "False", "True"], out.stderr[-2000:]
