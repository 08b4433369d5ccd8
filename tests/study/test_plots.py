import os
import subprocess
import sys

import pytest

pytest.importorskip("matplotlib")


@pytest.mark.parametrize("backend", ["pdf", "svg"])
def test_importing_the_study_keeps_matplotlib_backend(backend):
    """Importing skmtl or skmtl.study, and pyplot after them, leaves the backend
    that the user chose (a notebook's inline one, say) alone."""
    code = (
        "import matplotlib; before = matplotlib.get_backend()\n"
        "import skmtl, skmtl.plotting, skmtl.study, skmtl.study.__main__\n"
        "import matplotlib.pyplot\n"
        "print(before, matplotlib.get_backend())\n"
    )
    env = {**os.environ, "MPLBACKEND": backend}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert result.stdout.split() == [backend, backend]
