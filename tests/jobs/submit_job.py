"""Test helper: submit one local job from a separate process, print its id and exit at once."""

import json
import sys

from tao_automl.platforms.local.sdk import LocalSDK

state_file, command = sys.argv[1], sys.argv[2]
sdk = LocalSDK(state_file=state_file, gpu_ids=[])
job = sdk.create_job(None, command, gpu_count=0)
print(json.dumps({"id": job.id, "results_dir": job.results_dir}))
