package account

// QueuedRecords is how many records wait for a writer (tests).
func (s *Service) QueuedRecords() int { return len(s.batch.in) }
