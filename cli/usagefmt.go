package cli

import "strings"

// usageWidth is the widest usage line printed: a terminal's 80 columns.
const usageWidth = 80

// usageLines formats one command's usage for a terminal: the command and
// its arguments ("liverseg segment --model NAME …"), then what it does,
// indented below, each wrapped at usageWidth columns. A Command's Usage
// separates the two with three spaces.
func usageLines(lead, name, usage string) string {
	args, desc, _ := strings.Cut(usage, "   ")
	cmd := strings.TrimSpace("liverseg " + strings.TrimSpace(name+" "+strings.TrimSpace(args)))
	indent := strings.Repeat(" ", len(lead))
	var b strings.Builder
	wrapWords(&b, lead, indent+"        ", argWords(cmd))
	if desc = strings.TrimSpace(desc); desc != "" {
		wrapWords(&b, indent+"    ", indent+"    ", strings.Fields(desc))
	}
	return b.String()
}

// argWords splits a command line into words, keeping a bracketed option
// ("[--format nifti|seg]") in one piece.
func argWords(s string) []string {
	var out []string
	depth := 0
	for _, w := range strings.Fields(s) {
		if depth > 0 {
			out[len(out)-1] += " " + w
		} else {
			out = append(out, w)
		}
		depth += strings.Count(w, "[") - strings.Count(w, "]")
	}
	return out
}

// wrapWords writes words after first, breaking lines before usageWidth
// and starting continuation lines with rest.
func wrapWords(b *strings.Builder, first, rest string, words []string) {
	line := first
	n := 0 // words on the line
	for _, w := range words {
		if n > 0 && len([]rune(line))+1+len([]rune(w)) > usageWidth {
			b.WriteString(line + "\n")
			line, n = rest, 0
		}
		if n > 0 {
			line += " "
		}
		line += w
		n++
	}
	b.WriteString(line + "\n")
}
