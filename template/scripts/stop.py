#!/usr/bin/env python3
"""Stop this instance; its volumes are kept unless --volumes --yes. See --help."""

import sys

from supabase_ops.lifecycle import main_stop

sys.exit(main_stop())
