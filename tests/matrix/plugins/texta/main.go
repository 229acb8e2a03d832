// Command texta is a plugin using golang.org/x/text, which the host does not
// import: only another plugin can disagree with it about that module.
package main

import "golang.org/x/text/width"

// Name is the symbol the host looks up.
var Name = "texta"

// Narrow folds wide characters to narrow ones.
func Narrow(s string) string { return width.Narrow.String(s) }

func main() {}
