"""Test helper: submit one local job from a separate process, print its id and exit at once.

Usage: submit_job.py STATE_FILE COMMAND [JOB_NAME]. With ``TAO_AUTOML_CRASH_AT`` set the process
SIGKILLs itself at that crash point (a submitter dying inside ``create_job``).
"""

import json
import sys

from tao_automl.platforms.local.sdk import LocalSDK

state_file, command = sys.argv[1], sys.argv[2]
sdk = LocalSDK(state_file=state_file, gpu_ids=[])
kwargs = {"job_name": sys.argv[3]} if len(sys.argv) > 3 else {}
job = sdk.create_job(None, command, gpu_count=0, **kwargs)
print(json.dumps({"id": job.id, "results_dir": job.results_dir}))
