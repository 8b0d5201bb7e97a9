package memqueue

// RegistryLogLen returns the length of r's change log, for tests.
func RegistryLogLen(r *Registry) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.log)
}
