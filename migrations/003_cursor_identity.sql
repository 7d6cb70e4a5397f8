-- Which databases a cursor was taken between, and whether a reconcile is still owed.
--
-- A cursor is a snapshot of the source's transaction ids: it means nothing in another
-- database, nor in the same one restored from a backup or promoted from a standby (xids
-- are reused). source_identity and target_identity are "system identifier/timeline/
-- database oid" of both ends when the cursor was written; snk compares them at every
-- connect. reconcile_pending is true from a cursor's first write (a first start) or from
-- the moment either end changed, until a full reconcile pass has finished: it survives a
-- crash in the middle of that pass. Existing cursors get true: one reconcile after the
-- upgrade.
ALTER TABLE snk.cursor ADD COLUMN IF NOT EXISTS source_identity text;
ALTER TABLE snk.cursor ADD COLUMN IF NOT EXISTS target_identity text;
ALTER TABLE snk.cursor ADD COLUMN IF NOT EXISTS reconcile_pending boolean NOT NULL DEFAULT true;
