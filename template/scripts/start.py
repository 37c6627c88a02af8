#!/usr/bin/env python3
"""Start this instance: validate, register, up --wait, print its URLs. See --help."""

import sys

from supabase_ops.lifecycle import main_start

sys.exit(main_start())
