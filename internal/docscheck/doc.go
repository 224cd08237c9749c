// Package docscheck holds the tests that keep the repository's Markdown
// documentation (README.md and docs/*.md) true to the repository: every
// relative link and anchor resolves, every repository path a page names in
// code type exists, and no page leans on a document the repository does not
// hold.
package docscheck
