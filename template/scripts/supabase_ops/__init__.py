"""Operations for one self-hosted Supabase instance: standard library only (Python 3.9+)."""
