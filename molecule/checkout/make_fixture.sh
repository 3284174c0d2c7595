#!/usr/bin/env bash
# Builds the checkout scenario's fixture in $1: bare repositories project.git (branch main, two
# commits, a submodule lib) and lib.git, a controller-side clone `local` one unpushed commit ahead,
# and a wheelhouse holding a real (pure-Python) wheel of the project's one dependency.
set -euo pipefail
root=$1
rm -rf "$root"
mkdir -p "$root/wheelhouse"
cd "$root"
export GIT_AUTHOR_NAME=stallscope GIT_AUTHOR_EMAIL=stallscope@example.invalid
export GIT_COMMITTER_NAME=stallscope GIT_COMMITTER_EMAIL=stallscope@example.invalid
git() { command git -c init.defaultBranch=main -c protocol.file.allow=always "$@"; }

git init -q --bare lib.git
git init -q lib-work && (cd lib-work && echo "shared code" > README && git add README && git commit -qm lib && git push -q ../lib.git main)

git init -q --bare project.git
git init -q work
cd work
printf '.venv/\n' > .gitignore
printf 'tinydep==1.0\n' > requirements.lock
git add .gitignore requirements.lock && git commit -qm "first"
git submodule -q add "file://$root/lib.git" lib
printf 'tinydep==1.0\n# second\n' > requirements.lock
git add -A && git commit -qm "second: submodule lib"
git push -q ../project.git main
cd ..
git clone -q project.git local
(cd local && echo "unpushed" > NOTES && git add NOTES && git commit -qm "unpushed work")

# A wheel is a zip with the package and its dist-info; pip installs it like any from PyPI.
python3 - "$root/wheelhouse" <<'PY'
import base64, hashlib, sys, zipfile
files = {
    "tinydep/__init__.py": "VERSION = '1.0'\n",
    "tinydep-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinydep\nVersion: 1.0\n",
    "tinydep-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: stallscope-fixture\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
def record_line(name, text):
    digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(text.encode())}\n"
record = "".join(record_line(n, t) for n, t in files.items()) + "tinydep-1.0.dist-info/RECORD,,\n"
with zipfile.ZipFile(f"{sys.argv[1]}/tinydep-1.0-py3-none-any.whl", "w") as wheel:
    for name, text in {**files, "tinydep-1.0.dist-info/RECORD": record}.items():
        wheel.writestr(name, text)
PY
chmod -R a+rX "$root"
