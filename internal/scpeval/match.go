package scpeval

import "strings"

// wildcardMatch reports whether s matches pattern, where * matches any run
// of characters (also none) and ? exactly one, comparing without regard to
// case as IAM compares actions. Both are expected in lower case.
func wildcardMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// allStars reports whether s is made of * only: it matches everything.
func allStars(s string) bool { return s != "" && strings.Trim(s, "*") == "" }

// splitAction splits an action pattern into its service and action parts,
// lowercased. A pattern of stars only is "*" in both parts.
func splitAction(pattern string) (service, action string) {
	pattern = strings.ToLower(pattern)
	if allStars(pattern) {
		return "*", "*"
	}
	service, action, _ = strings.Cut(pattern, ":")
	return service, action
}
