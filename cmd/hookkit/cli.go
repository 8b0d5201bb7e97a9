package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// Exit statuses.
const (
	exitOK     = 0 // success
	exitFailed = 1 // the operation failed: invalid signature, delivery not acknowledged…
	exitUsage  = 2 // the command line is wrong
)

// env is what a subcommand may touch: its standard streams.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

var commands = []command{
	{"keygen", "print a new secret in a scheme's text form", runKeygen},
	{"sign", "print the signature headers for a body", runSign},
	{"verify", "check a body's signature headers", runVerify},
	{"listen", "receive webhooks and print each accepted event as a JSON line", runListen},
	{"send", "deliver one event with retries and print the result as JSON", runSend},
	{"publish", "store an event's deliveries durably, for a worker to deliver", runPublish},
	{"worker", "deliver what a store holds, with retries, until stopped or empty", runWorker},
	{"queue", "count, list and requeue the deliveries of a store", runQueue},
	{"console", "serve the delivery console (dead letters, requeue) on loopback", runConsole},
	{"apikey", "create, list and revoke the API keys a listener accepts", runAPIKey},
	{"endpoint", "list, import, enable, disable and rekey the endpoints of a store's registry", runEndpoint},
}

// usageError is a mistake on the command line (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelp is returned by a subcommand after it printed its help on request (exit status 0).
var errHelp = errors.New("help requested")

// run is the whole program: it runs the subcommand named by args[0] and returns the exit
// status. ctx is cancelled on SIGINT/SIGTERM.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprintln(stderr, "hookkit: missing subcommand (see hookkit --help)")
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		printTopUsage(stdout)
		return exitOK
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, "hookkit", version())
		return exitOK
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		err := c.run(ctx, e, args[1:])
		var ue *usageError
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, errHelp):
			return exitOK
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "hookkit %s: %s (see hookkit %s --help)\n", name, oneLine(ue.msg), name)
			return exitUsage
		default:
			fmt.Fprintf(stderr, "hookkit %s: %s\n", name, oneLine(err.Error()))
			return exitFailed
		}
	}
	fmt.Fprintf(stderr, "hookkit: unknown subcommand %q (see hookkit --help)\n", name)
	return exitUsage
}

func printTopUsage(w io.Writer) {
	fmt.Fprint(w, `hookkit signs, verifies, sends and receives webhooks.

Usage:
  hookkit <command> [flags] [arguments]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Schemes: standard (default), docusign, github, stripe. Secrets are given in the text form
each system shows its users (whsec_… for standard and stripe, the key string for docusign
and github).

Exit status: 0 success, 1 the operation failed, 2 usage error.
Run "hookkit <command> --help" for the flags of a command.
`)
}

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// flagSet is a flag.FlagSet that prints its own help (long names with "--") and reports
// errors through run instead of printing them.
type flagSet struct {
	*flag.FlagSet
	synopsis    string // "hookkit sign --scheme S …"
	description string
	stdout      io.Writer
}

func newFlagSet(e *env, name, synopsis, description string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, synopsis: synopsis, description: description, stdout: e.stdout}
}

// parse parses args, allowing flags after positional arguments ("sign FILE --secret K"),
// and returns the positional arguments. "--" ends the flags. On --help it prints the help
// to stdout and returns errHelp.
func (fs *flagSet) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.printHelp()
				return nil, errHelp
			}
			return nil, &usageError{msg: flagError(err)}
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), fs.checkEmpty()
		}
		if len(rest) == 0 {
			return pos, fs.checkEmpty()
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// emptyChecker is a flag value that must not be given empty (the secret flags).
type emptyChecker interface{ hasEmpty() bool }

// checkEmpty refuses a secret flag given an empty value ("--secret ”", often an unset
// shell variable) with "--secret is empty".
func (fs *flagSet) checkEmpty() error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if ec, ok := f.Value.(emptyChecker); ok && ec.hasEmpty() && err == nil {
			err = usagef("%s is empty", dashed(f.Name))
		}
	})
	return err
}

// dashed spells a flag name as the help does: "--secret", and "-H" for one letter.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// flagErrorRE matches the flag package's error messages that name a flag "-name".
var flagErrorRE = regexp.MustCompile(`^(flag provided but not defined|flag needs an argument|invalid value ("(?:[^"\\]|\\.)*") for flag|invalid boolean value ("(?:[^"\\]|\\.)*") for|invalid boolean flag):? -([^ :]+)(.*)$`)

// flagError rewords the flag package's errors with the flags spelled as the help spells
// them ("--secret", not "-secret"): "unknown flag --nope", "--secret needs an argument",
// "invalid value "5 minutes" for --tolerance: parse error".
func flagError(err error) string {
	msg := err.Error()
	m := flagErrorRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	name, rest := dashed(m[4]), m[5]
	switch {
	case m[1] == "flag provided but not defined":
		return "unknown flag " + name + rest
	case m[1] == "flag needs an argument":
		return name + " needs an argument" + rest
	case m[2] != "":
		return "invalid value " + m[2] + " for " + name + rest
	case m[3] != "":
		return "invalid boolean value " + m[3] + " for " + name + rest
	}
	return "invalid boolean flag " + name + rest
}

func (fs *flagSet) printHelp() {
	w := fs.stdout
	fmt.Fprintf(w, "Usage:\n  %s\n\n%s\n\nFlags:\n", fs.synopsis, strings.TrimSpace(fs.description))
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  " + dashed(f.Name)
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n      %s", line, usage)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" && f.DefValue != "[]" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// secretList is a repeatable flag whose values are secrets: its String never shows them
// (flag prints defaults with it), and an empty value is refused after parsing with
// "--name is empty" (see flagSet.checkEmpty): the flag package's own error would say
// "invalid value "" for flag -name".
type secretList []string

func (l *secretList) String() string { return "" }

func (l *secretList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

func (l *secretList) hasEmpty() bool {
	for _, s := range *l {
		if s == "" {
			return true
		}
	}
	return false
}

// secretValue is a single secret flag; empty is refused like secretList's.
type secretValue struct {
	v   string
	set bool
}

func (s *secretValue) String() string { return "" }

func (s *secretValue) Set(v string) error {
	s.v, s.set = v, true
	return nil
}

func (s *secretValue) hasEmpty() bool { return s.set && s.v == "" }

// unexpectedArgument is the usage error for a stray positional argument. It does not
// echo the argument: often it is the second value given to a flag that takes one, such
// as a secret after --secret.
func unexpectedArgument(pos []string) error {
	return usagef("unexpected argument (%d given; a flag takes one value: repeat the flag to give several)", len(pos))
}

// checkURLFlag parses the value of a URL flag (--url, --token-url, --jwks-url,
// --introspect-url): an absolute http(s) URL without credentials, and https unless
// allowHTTP (httpHint follows "use --allow-http" in the refusal). Its errors never echo the value, whose path and query often carry tokens:
// they say what is wrong, showing at most the scheme and host (see redactURL).
func checkURLFlag(flagName, raw string, allowHTTP bool, httpHint string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, usagef("--%s is not a valid URL: %s", flagName, urlErrorReason(err))
	case u.User != nil:
		return nil, usagef("--%s must not carry credentials (user:password@); use --basic or --bearer", flagName)
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return nil, usagef("--%s must be an absolute http(s) URL, like https://host/path", flagName)
	case u.Scheme == "http" && !allowHTTP:
		return nil, usagef("--%s %s is plain http://: refused; use --allow-http%s", flagName, redactURL(u), httpHint)
	}
	return u, nil
}

// redactURL shows u without what may carry a secret: scheme and host only, with "/…"
// standing for the path, query and fragment (webhook URLs often hold their token in the
// path, e.g. Slack's).
func redactURL(u *url.URL) string {
	s := u.Scheme + "://" + u.Host
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		s += "/…"
	}
	return s
}

// quotedRE matches a Go-quoted string, which net/url's errors use for the offending part
// of the URL.
var quotedRE = regexp.MustCompile(`\s*"(?:[^"\\]|\\.)*"`)

// urlErrorReason is url.Parse's complaint without the URL, nor the part of it that is
// wrong: "invalid port after host", "invalid URL escape".
func urlErrorReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := strings.TrimPrefix(quotedRE.ReplaceAllString(err.Error(), ""), "net/url: ")
	if msg == "" {
		return "malformed"
	}
	return msg
}

// bodyFromStdin reports whether readInput would read stdin for these positional arguments.
func bodyFromStdin(pos []string) bool { return len(pos) == 0 || pos[0] == "-" }

// readInput reads the body named by the positional arguments: a FILE, or stdin when there
// is none or it is "-".
func readInput(e *env, pos []string) ([]byte, error) {
	switch {
	case len(pos) > 1:
		return nil, usagef("at most one FILE argument, got %d", len(pos))
	case len(pos) == 0 || pos[0] == "-":
		b, err := io.ReadAll(e.stdin)
		if err != nil {
			return nil, fmt.Errorf("reading stdin: %w", err)
		}
		return b, nil
	default:
		b, err := os.ReadFile(pos[0])
		if err != nil {
			return nil, usagef("reading FILE: %v", err)
		}
		return b, nil
	}
}
