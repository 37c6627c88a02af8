-- An example of row-level security with Supabase Auth: every user sees and changes only
-- their own notes. Through the API, `anon` sees nothing and `authenticated` users act as
-- auth.uid(), the `sub` claim of their JWT. Drop it when you no longer need it:
--   DROP TABLE public.notes;
CREATE TABLE IF NOT EXISTS public.notes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id uuid NOT NULL DEFAULT auth.uid() REFERENCES auth.users (id) ON DELETE CASCADE,
  body text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 10000),
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.notes IS 'Example table: each row belongs to the user in user_id (RLS).';
CREATE INDEX IF NOT EXISTS notes_user_id_idx ON public.notes (user_id);

ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;

-- No policy names `anon`: anonymous requests match no row and may insert nothing.
CREATE POLICY "Users read their own notes" ON public.notes
  FOR SELECT TO authenticated USING ((SELECT auth.uid()) = user_id);
CREATE POLICY "Users add their own notes" ON public.notes
  FOR INSERT TO authenticated WITH CHECK ((SELECT auth.uid()) = user_id);
CREATE POLICY "Users edit their own notes" ON public.notes
  FOR UPDATE TO authenticated
  USING ((SELECT auth.uid()) = user_id) WITH CHECK ((SELECT auth.uid()) = user_id);
CREATE POLICY "Users delete their own notes" ON public.notes
  FOR DELETE TO authenticated USING ((SELECT auth.uid()) = user_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON public.notes TO authenticated;
REVOKE ALL ON public.notes FROM anon;
