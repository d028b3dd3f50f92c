"""Test job: start a sleeping grandchild, record its pid in argv[1], then sleep."""

import os
import subprocess
import sys
import time

grandchild = subprocess.Popen(["sleep", "60"])
tmp = sys.argv[1] + ".tmp"
with open(tmp, "w") as handle:
    handle.write(str(grandchild.pid))
os.replace(tmp, sys.argv[1])
time.sleep(60)
