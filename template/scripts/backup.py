#!/usr/bin/env python3
"""Back up this instance (database, storage, configuration) into a verified set. See --help."""

import sys

from supabase_ops.backup import main

sys.exit(main())
