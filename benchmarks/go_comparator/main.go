// Command go_comparator is the webhook an operator could run instead of ours, written the way a careful Go
// webhook is: the standard library only, a typed decode of just the fields the mutation needs, and the JSON
// patch built directly from structs. The benchmark measures it beside pod-identity-webhook so that every
// figure can be read against the peer a user would pick, not only against a bare app that does nothing.
//
// It answers the same AdmissionReviews with the same patch for the benchmark's ServiceAccounts (IRSA only:
// role ARN, audience, token expiration, regional STS endpoints, the default region), with the serving TLS
// settings of ours: TLS 1.2 minimum, ECDHE with AEAD ciphers only, HTTP/1.1 only.
//
//	go_comparator -tls-cert C -tls-key K -port P -service-accounts SA.json -aws-default-region R
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

const (
	roleAnnotation       = "eks.amazonaws.com/role-arn"
	audienceAnnotation   = "eks.amazonaws.com/audience"
	regionalAnnotation   = "eks.amazonaws.com/sts-regional-endpoints"
	expirationAnnotation = "eks.amazonaws.com/token-expiration"
	defaultAudience      = "sts.amazonaws.com"
	defaultExpiration    = 86400
	minimumExpiration    = 600
	tokenVolume          = "aws-iam-token"
	tokenDirectory       = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
	tokenFile            = tokenDirectory + "/token"
	maxReviewBytes       = 3 << 20
)

// serviceAccount is one entry of the file the benchmark writes from the same ServiceAccounts it gives ours.
type serviceAccount struct {
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	Annotations map[string]string `json:"annotations"`
}

// identity is what a ServiceAccount's annotations resolve to, computed once when the file is read.
type identity struct {
	env    []envVar
	volume volume
}

type envVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type volumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly"`
}

type volume struct {
	Name      string    `json:"name"`
	Projected projected `json:"projected"`
}

type projected struct {
	Sources []projection `json:"sources"`
}

type projection struct {
	ServiceAccountToken tokenProjection `json:"serviceAccountToken"`
}

type tokenProjection struct {
	Audience          string `json:"audience"`
	ExpirationSeconds int64  `json:"expirationSeconds"`
	Path              string `json:"path"`
}

// The request: only the fields the mutation reads; encoding/json skips the rest of the review.
type review struct {
	APIVersion string   `json:"apiVersion"`
	Request    *request `json:"request"`
}

type request struct {
	UID       string `json:"uid"`
	Namespace string `json:"namespace"`
	Object    struct {
		Spec struct {
			ServiceAccountName string      `json:"serviceAccountName"`
			Volumes            []named     `json:"volumes"`
			InitContainers     []container `json:"initContainers"`
			Containers         []container `json:"containers"`
		} `json:"spec"`
	} `json:"object"`
}

type named struct {
	Name string `json:"name"`
}

type container struct {
	Env          []named `json:"env"`
	VolumeMounts []struct {
		MountPath string `json:"mountPath"`
	} `json:"volumeMounts"`
}

// The answer, field for field in the order ours writes it.
type answer struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Response   response `json:"response"`
}

type response struct {
	UID       string `json:"uid"`
	Allowed   bool   `json:"allowed"`
	PatchType string `json:"patchType,omitempty"`
	Patch     []byte `json:"patch,omitempty"`
}

type operation struct {
	Op    string      `json:"op"`
	Path  string      `json:"path"`
	Value interface{} `json:"value"`
}

type webhook struct {
	identities map[string]*identity
}

func main() {
	certFile := flag.String("tls-cert", "", "serving certificate (PEM)")
	keyFile := flag.String("tls-key", "", "its private key (PEM)")
	address := flag.String("bind-address", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 8443, "port to listen on")
	accountsFile := flag.String("service-accounts", "", "JSON list of {namespace, name, annotations}")
	region := flag.String("aws-default-region", "", "region injected as AWS_REGION and AWS_DEFAULT_REGION")
	flag.Parse()

	identities, err := readIdentities(*accountsFile, *region)
	if err != nil {
		log.Fatalf("go_comparator: %v", err)
	}
	certificate, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatalf("go_comparator: %v", err)
	}
	hook := &webhook{identities: identities}
	mux := http.NewServeMux()
	mux.HandleFunc("/mutate", hook.mutate)
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	server := &http.Server{
		Handler: mux,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{certificate},
			MinVersion:   tls.VersionTLS12,
			CipherSuites: []uint16{
				tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
				tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
				tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
				tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
				tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
				tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
			},
			NextProtos: []string{"http/1.1"},
		},
		// Ours speaks HTTP/1.1 only; an empty map keeps net/http from offering HTTP/2.
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
	}
	listener, err := net.Listen("tcp", net.JoinHostPort(*address, strconv.Itoa(*port)))
	if err != nil {
		log.Fatalf("go_comparator: %v", err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		_ = server.Close()
	}()
	if err := server.ServeTLS(listener, "", ""); err != nil && err != http.ErrServerClosed {
		log.Fatalf("go_comparator: %v", err)
	}
}

func readIdentities(path, region string) (map[string]*identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var accounts []serviceAccount
	if err := json.Unmarshal(data, &accounts); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	identities := make(map[string]*identity, len(accounts))
	for _, account := range accounts {
		role := account.Annotations[roleAnnotation]
		if role == "" {
			continue
		}
		audience := account.Annotations[audienceAnnotation]
		if audience == "" {
			audience = defaultAudience
		}
		expiration := int64(defaultExpiration)
		if text, ok := account.Annotations[expirationAnnotation]; ok {
			if seconds, err := strconv.ParseInt(text, 10, 64); err == nil {
				expiration = seconds
				if expiration < minimumExpiration {
					expiration = minimumExpiration
				}
			}
		}
		var env []envVar
		if account.Annotations[regionalAnnotation] == "true" {
			env = append(env, envVar{"AWS_STS_REGIONAL_ENDPOINTS", "regional"})
		}
		if region != "" {
			env = append(env, envVar{"AWS_DEFAULT_REGION", region}, envVar{"AWS_REGION", region})
		}
		env = append(env, envVar{"AWS_ROLE_ARN", role}, envVar{"AWS_WEB_IDENTITY_TOKEN_FILE", tokenFile})
		identities[account.Namespace+"/"+account.Name] = &identity{
			env: env,
			volume: volume{
				Name: tokenVolume,
				Projected: projected{Sources: []projection{{ServiceAccountToken: tokenProjection{
					Audience: audience, ExpirationSeconds: expiration, Path: "token",
				}}}},
			},
		}
	}
	return identities, nil
}

func (hook *webhook) mutate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	var in review
	if err := json.Unmarshal(body, &in); err != nil || in.Request == nil {
		http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
		return
	}
	out := answer{
		APIVersion: in.APIVersion,
		Kind:       "AdmissionReview",
		Response:   response{UID: in.Request.UID, Allowed: true},
	}
	if found := hook.identities[in.Request.Namespace+"/"+in.Request.Object.Spec.ServiceAccountName]; found != nil {
		if operations := patch(in.Request, found); len(operations) > 0 {
			out.Response.PatchType = "JSONPatch"
			out.Response.Patch, err = json.Marshal(operations)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
	}
	encoded, err := json.Marshal(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// With the length known the answer goes out in one piece, as ours does, not chunked.
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(encoded)))
	_, _ = w.Write(encoded)
}

// patch adds the identity's variables and token mount to every container that has none of them yet, init
// containers first, and the token volume unless the pod has one by that name.
func patch(in *request, found *identity) []operation {
	spec := &in.Object.Spec
	operations := make([]operation, 0, 8*(len(spec.InitContainers)+len(spec.Containers))+1)
	for _, group := range []struct {
		path       string
		containers []container
	}{{"/spec/initContainers/", spec.InitContainers}, {"/spec/containers/", spec.Containers}} {
		for index := range group.containers {
			operations = containerPatch(operations, group.path+strconv.Itoa(index), &group.containers[index], found)
		}
	}
	for _, existing := range spec.Volumes {
		if existing.Name == tokenVolume {
			return operations
		}
	}
	if spec.Volumes == nil {
		return append(operations, operation{"add", "/spec/volumes", []volume{found.volume}})
	}
	return append(operations, operation{"add", "/spec/volumes/0", found.volume})
}

func containerPatch(operations []operation, path string, c *container, found *identity) []operation {
	missing := make([]envVar, 0, len(found.env))
	for _, variable := range found.env {
		if !hasVariable(c.Env, variable.Name) {
			missing = append(missing, variable)
		}
	}
	switch {
	case len(missing) == 0:
	case c.Env == nil:
		operations = append(operations, operation{"add", path + "/env", missing})
	default:
		for _, variable := range missing {
			operations = append(operations, operation{"add", path + "/env/-", variable})
		}
	}
	for _, mount := range c.VolumeMounts {
		if mount.MountPath == tokenDirectory {
			return operations
		}
	}
	mount := volumeMount{Name: tokenVolume, MountPath: tokenDirectory, ReadOnly: true}
	if c.VolumeMounts == nil {
		return append(operations, operation{"add", path + "/volumeMounts", []volumeMount{mount}})
	}
	return append(operations, operation{"add", path + "/volumeMounts/-", mount})
}

func hasVariable(env []named, name string) bool {
	for _, variable := range env {
		if variable.Name == name {
			return true
		}
	}
	return false
}

// readBody reads the review in one allocation when the API server says how long it is, as it does.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limited := http.MaxBytesReader(w, r.Body, maxReviewBytes)
	if r.ContentLength < 0 || r.ContentLength > maxReviewBytes {
		return io.ReadAll(limited)
	}
	body := make([]byte, r.ContentLength)
	_, err := io.ReadFull(limited, body)
	return body, err
}
