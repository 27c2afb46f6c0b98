"""Where the tests find the repository and the shared SillyTavern reference files."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_REFERENCE = REPO_ROOT.parent / "shared" / "reference"
SILLYTAVERN = SHARED_REFERENCE / "sillytavern"
