"""Stand-in for the get-pip script ansible-test downloads to bootstrap a sanity test's virtualenv.

tools/sanity.py copies it to where ansible-test caches that script. It runs inside the new
virtualenv: pip comes from ensurepip, and the virtualenv's own pip.conf makes this install and
every later one in the virtualenv use only the wheelhouse beside this file, never an index.
"""

import ensurepip
import os
import subprocess
import sys

WHEELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wheels")

with open(os.path.join(sys.prefix, "pip.conf"), "w") as config:
    config.write(f"[global]\nno-index = true\nfind-links = {WHEELS}\ndisable-pip-version-check = true\n")

ensurepip.bootstrap(upgrade=True)
# get-pip's own options; the packages it is given (pip==...) are installed as asked.
packages = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
# ensurepip points PIP_CONFIG_FILE at /dev/null in this process, which would hide the pip.conf above.
os.environ.pop("PIP_CONFIG_FILE", None)
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *packages])
