-- Schema 5: an assessment submitted as a Message Batch (AGENT_ASSESS_BATCH):
-- the batch to fetch and the budget hold that covers it until then.
ALTER TABLE agent_sessions ADD COLUMN assess_batch_id TEXT;
ALTER TABLE agent_sessions ADD COLUMN assess_batch_hold BIGINT;
