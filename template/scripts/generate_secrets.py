#!/usr/bin/env python3
"""Fill in, check (--check), show (--show KEY) or rotate (--rotate ...) the secrets in docker/.env."""

import sys

from supabase_ops.secrets_command import main

sys.exit(main())
