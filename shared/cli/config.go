package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// Credentials are what login stores: the API's base URL and an API key.
type Credentials struct {
	URL string `json:"url"`
	Key string `json:"key"`
}

// configFile is where login keeps the credentials.
func (a *app) configFile() (string, error) {
	dir := a.env.ConfigDir
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("config directory: %w", err)
		}
		dir = filepath.Join(base, "gancho")
	}
	return filepath.Join(dir, "config.json"), nil
}

// saveCredentials writes the config file whole (a rename, so a crash never leaves
// half a file), readable by the user only.
func (a *app) saveCredentials(c Credentials) (string, error) {
	path, err := a.configFile()
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("config directory: %w", err)
	}
	// MkdirAll leaves an existing folder's mode alone; the key must not be listed
	// by others either.
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", fmt.Errorf("config directory: %w", err)
	}
	raw, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".config-*.json") // mode 0600
	if err != nil {
		return "", fmt.Errorf("config file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(append(raw, '\n'))
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o600)
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		return "", fmt.Errorf("config file: %w", werr)
	}
	return path, nil
}

// loadCredentials reads the config file; a missing file is no credentials.
func (a *app) loadCredentials() (Credentials, error) {
	var c Credentials
	path, err := a.configFile()
	if err != nil {
		return c, err
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("config file: %w", err)
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("config file %s: %w (run gancho login again)", path, err)
	}
	return c, nil
}

// client returns an API client from GANCHO_URL / GANCHO_API_KEY, else the stored
// credentials. adminKey, when not empty, replaces the key.
func (a *app) client(adminKey string) (*client, error) {
	stored, err := a.loadCredentials()
	if err != nil {
		return nil, err
	}
	base, key := a.env.Getenv("GANCHO_URL"), a.env.Getenv("GANCHO_API_KEY")
	if base == "" {
		base = stored.URL
	}
	if key == "" {
		key = stored.Key
	}
	if adminKey != "" {
		key = adminKey
	}
	if base == "" || key == "" {
		return nil, &authError{"not logged in: run 'gancho login', or set GANCHO_URL and GANCHO_API_KEY"}
	}
	return a.newClient(base, key), nil
}

func (a *app) newClient(base, key string) *client {
	return &client{base: strings.TrimRight(base, "/"), key: key, http: a.env.HTTPClient, userAgent: "gancho-cli/" + gancho.Version}
}

// checkBaseURL refuses what cannot be an API base URL.
func checkBaseURL(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usagef("--url must be an absolute http(s) URL such as http://127.0.0.1:8080, got %q", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", usagef("--url must not have a query or fragment, got %q", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func (a *app) loginCommand() *cobra.Command {
	var base, key string
	var noVerify bool
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Store the API's base URL and an API key",
		Long: `login stores the API's base URL and an API key in the user's config directory
(gancho/config.json, mode 0600, in a folder of mode 0700), after checking them
with GET /v1/tenant. Without --url or --key it asks for them on standard input
(the key is not echoed on a terminal).`,
		Example: `  gancho login --url http://127.0.0.1:8080 --key "$GANCHO_DEV_API_KEY"
  printf 'http://127.0.0.1:8080\n%s\n' "$KEY" | gancho login`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := bufio.NewReader(a.stdin)
			var err error
			if base == "" {
				if base, err = a.prompt(in, "API base URL [http://127.0.0.1:8080]: ", false); err != nil {
					return err
				}
				if base == "" {
					base = "http://127.0.0.1:8080"
				}
			}
			if base, err = checkBaseURL(base); err != nil {
				return err
			}
			if key == "" {
				if key, err = a.prompt(in, "API key: ", true); err != nil {
					return err
				}
			}
			key = strings.TrimSpace(key)
			if key == "" {
				return usagef("an API key is needed (--key, or on standard input)")
			}
			var tenant struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			}
			if !noVerify {
				if _, err := a.newClient(base, key).call(cmd.Context(), http.MethodGet, "/v1/tenant", nil, &tenant); err != nil {
					return fmt.Errorf("credentials not saved: %w", err)
				}
			}
			path, err := a.saveCredentials(Credentials{URL: base, Key: key})
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]string{"url": base, "tenantId": tenant.ID, "tenantName": tenant.Name, "configFile": path})
			}
			if tenant.ID != "" {
				fmt.Fprintf(a.stdout, "Logged in to %s as tenant %s (%s).\n", base, tenant.Name, tenant.ID)
			} else {
				fmt.Fprintf(a.stdout, "Saved credentials for %s (not checked).\n", base)
			}
			fmt.Fprintf(a.stdout, "Credentials saved in %s\n", path)
			return nil
		},
	}
	cmd.Flags().StringVar(&base, "url", "", "the API's base URL, e.g. http://127.0.0.1:8080")
	cmd.Flags().StringVar(&key, "key", "", "an API key (asked for when omitted)")
	cmd.Flags().BoolVar(&noVerify, "no-verify", false, "save without checking the credentials")
	return cmd
}

// prompt asks for one line on standard input; secret input is not echoed when
// standard input is a terminal.
func (a *app) prompt(in *bufio.Reader, label string, secret bool) (string, error) {
	fmt.Fprint(a.stderr, label)
	if f, ok := a.stdin.(*os.File); ok && secret && a.env.Terminal(f) {
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", fmt.Errorf("read key: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	line, err := in.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", nil
		}
		return "", fmt.Errorf("read standard input: %w", err)
	}
	return strings.TrimSpace(line), nil
}

func (a *app) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "logout",
		Short:   "Forget the stored credentials",
		Example: "  gancho logout",
		Args:    noArgs,
		RunE: func(*cobra.Command, []string) error {
			path, err := a.configFile()
			if err != nil {
				return err
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("config file: %w", err)
			}
			if !a.json {
				fmt.Fprintf(a.stdout, "Logged out: %s removed.\n", path)
			}
			return nil
		},
	}
}

// isTerminal reports whether f is an *os.File on a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}
