"""A local STS and EKS Pod Identity agent that check the token a pod presents, as AWS does.

`moto` would answer AssumeRoleWithWebIdentity for any string; these answer only for a token the API server
signed (RS256, its ServiceAccount key), for the audience IAM expects, not expired, and — for a web identity
— only for a role whose trust policy (made by our `trust-policy` command) allows the token's `sub`. So a pod
that gets credentials here got them with the token the webhook made the kubelet mount, and never for a
role its ServiceAccount is not allowed.

Both listen on loopback (pods use the host's network): pods reach STS through `AWS_ENDPOINT_URL_STS` and
the agent through the webhook's `--container-credentials-full-uri`. Errors use AWS's shapes, so the SDK in
the pod reports them as AWS would: STS's XML `ErrorResponse` (InvalidIdentityToken for a token it does
not accept, AccessDenied when the trust policy does not allow it), the agent's JSON with a 4xx status.
"""

from __future__ import annotations

import datetime
import fnmatch
import json
import secrets
import string
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import jwt

STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
WEB_IDENTITY_AUDIENCE = "sts.amazonaws.com"
"""The client ID an IAM OIDC provider is registered with for IRSA."""
POD_IDENTITY_AUDIENCE = "pods.eks.amazonaws.com"
POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"
CREDENTIALS_PATH = "/v1/credentials"
SESSION_SECONDS = 3600


class RefusedError(Exception):
    """An AWS error answer: its code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Session:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime.datetime
    assumed_role_arn: str
    assumed_role_id: str


@dataclass(frozen=True)
class Decision:
    """One request as the stand-ins decided it: what a test reads to show who got which role."""

    action: str
    role_arn: str
    subject: str
    outcome: str


@dataclass
class LocalAws:
    """IAM's roles, STS's sessions and EKS's Pod Identity associations, shared by both servers."""

    issuer: str
    service_account_public_key: bytes
    trust_policies: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    associations: dict[tuple[str, str], str] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def create_role(self, arn: str, trust_policy: Mapping[str, Any]) -> None:
        self.trust_policies[arn] = trust_policy

    def associate(self, namespace: str, service_account: str, role_arn: str) -> None:
        """An EKS Pod Identity association: pods of this ServiceAccount get this role from the agent."""
        self.associations[(namespace, service_account)] = role_arn

    def decisions_for(self, subject: str) -> list[Decision]:
        with self.lock:
            return [each for each in self.decisions if each.subject == subject]

    def verify(self, token: str, *, audience: str) -> dict[str, Any]:
        """The claims of a token the API server signed for `audience`, unexpired; else InvalidIdentityToken."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token.strip(),
                self.service_account_public_key,
                algorithms=["RS256"],
                audience=audience,
                issuer=self.issuer,
                options={"require": ["aud", "exp", "iat", "iss", "sub"]},
            )
        except jwt.PyJWTError as error:
            raise RefusedError("InvalidIdentityToken", f"token rejected: {error}") from error
        return claims

    def assume_role_with_web_identity(self, role_arn: str, session_name: str, token: str) -> Session:
        subject = ""
        try:
            claims = self.verify(token, audience=WEB_IDENTITY_AUDIENCE)
            subject = claims["sub"]
            if not self._trusts_web_identity(role_arn, claims):
                raise RefusedError(
                    "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403
                )
            session = self._new_session(role_arn, session_name)
        except RefusedError as refused:
            self._decide(
                "AssumeRoleWithWebIdentity", role_arn, subject or _claimed_subject(token), refused.code
            )
            raise
        self._decide("AssumeRoleWithWebIdentity", role_arn, subject, "issued")
        return session

    def pod_identity_credentials(self, token: str) -> Session:
        """What the agent gets from EKS Auth (AssumeRoleForPodIdentity) for the pod's token."""
        subject = ""
        role_arn = ""
        try:
            claims = self.verify(token, audience=POD_IDENTITY_AUDIENCE)
            subject = claims["sub"]
            kubernetes = claims.get("kubernetes.io") or {}
            namespace = kubernetes.get("namespace", "")
            service_account = (kubernetes.get("serviceaccount") or {}).get("name", "")
            role_arn = self.associations.get((namespace, service_account), "")
            if not role_arn:
                raise RefusedError("AccessDeniedException", f"no Pod Identity association for {subject}", 403)
            if not self._trusts_service(role_arn, POD_IDENTITY_SERVICE):
                raise RefusedError(
                    "AccessDeniedException", f"{role_arn} does not trust {POD_IDENTITY_SERVICE}", 403
                )
            session = self._new_session(role_arn, f"eks-pod-identity-{secrets.token_hex(4)}")
        except RefusedError as refused:
            self._decide(
                "AssumeRoleForPodIdentity", role_arn, subject or _claimed_subject(token), refused.code
            )
            raise
        self._decide("AssumeRoleForPodIdentity", role_arn, subject, "issued")
        return session

    def caller(self, access_key_id: str, session_token: str) -> Session:
        with self.lock:
            session = self.sessions.get(access_key_id)
        if session is None or session.session_token != session_token:
            raise RefusedError(
                "InvalidClientTokenId", "The security token included in the request is invalid.", 403
            )
        return session

    def _decide(self, action: str, role_arn: str, subject: str, outcome: str) -> None:
        with self.lock:
            self.decisions.append(Decision(action, role_arn, subject, outcome))

    def _new_session(self, role_arn: str, session_name: str) -> Session:
        account, _, role_path = role_arn.removeprefix("arn:aws:iam::").partition(":role/")
        role_name = role_path.rsplit("/", 1)[-1]
        role_id = "AROA" + _random(16)
        session = Session(
            access_key_id="ASIA" + _random(16),
            secret_access_key=secrets.token_urlsafe(30),
            session_token=secrets.token_urlsafe(60),
            expiration=datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=SESSION_SECONDS),
            assumed_role_arn=f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}",
            assumed_role_id=f"{role_id}:{session_name}",
        )
        with self.lock:
            self.sessions[session.access_key_id] = session
        return session

    def _statements(self, role_arn: str, action: str) -> list[Mapping[str, Any]]:
        policy = self.trust_policies.get(role_arn) or {}
        return [
            each
            for each in policy.get("Statement", ())
            if each.get("Effect") == "Allow" and action in _as_list(each.get("Action"))
        ]

    def _trusts_web_identity(self, role_arn: str, claims: Mapping[str, Any]) -> bool:
        provider = self.issuer.removeprefix("https://")
        account = role_arn.removeprefix("arn:aws:iam::").partition(":")[0]
        values = {f"{provider}:sub": claims["sub"], f"{provider}:aud": WEB_IDENTITY_AUDIENCE}
        return any(
            _as_list((statement.get("Principal") or {}).get("Federated"))
            == [f"arn:aws:iam::{account}:oidc-provider/{provider}"]
            and _conditions_hold(statement.get("Condition") or {}, values)
            for statement in self._statements(role_arn, "sts:AssumeRoleWithWebIdentity")
        )

    def _trusts_service(self, role_arn: str, service: str) -> bool:
        return any(
            service in _as_list((statement.get("Principal") or {}).get("Service"))
            for statement in self._statements(role_arn, "sts:AssumeRole")
        )


def _claimed_subject(token: str) -> str:
    """Who a refused token says it is, unverified: only to file the refusal under that name."""
    try:
        claims = jwt.decode(token.strip(), options={"verify_signature": False})
    except jwt.PyJWTError:
        return ""
    return str(claims.get("sub", ""))


def _conditions_hold(conditions: Mapping[str, Mapping[str, Any]], values: Mapping[str, str]) -> bool:
    """IAM's rule: every operator and every key must hold; a key with a list holds if any value matches."""
    matchers = {
        "StringEquals": lambda actual, expected: actual == expected,
        "StringLike": fnmatch.fnmatchcase,
    }
    for operator, keys in conditions.items():
        match = matchers.get(operator)
        if match is None:
            return False
        for key, expected in keys.items():
            actual = values.get(key)
            if actual is None or not any(match(actual, each) for each in _as_list(expected)):
                return False
    return True


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _random(length: int) -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(length))


def _timestamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Handler(BaseHTTPRequestHandler):
    aws: LocalAws

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the decisions are the record a test reads."""

    def _reply(self, status: int, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _StsHandler(_Handler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
        request_id = secrets.token_hex(16)
        try:
            body = self._answer(form, request_id)
        except RefusedError as refused:
            self._reply(
                refused.status,
                f'<ErrorResponse xmlns="{STS_NAMESPACE}"><Error><Type>Sender</Type>'
                f"<Code>{refused.code}</Code><Message>{escape(refused.message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>",
                "text/xml",
            )
            return
        self._reply(200, body, "text/xml")

    def _answer(self, form: Mapping[str, str], request_id: str) -> str:
        action = form.get("Action")
        if action == "AssumeRoleWithWebIdentity":
            session = self.aws.assume_role_with_web_identity(
                form.get("RoleArn", ""), form.get("RoleSessionName", ""), form.get("WebIdentityToken", "")
            )
            return _xml(
                action,
                request_id,
                f"<AssumedRoleUser><Arn>{session.assumed_role_arn}</Arn>"
                f"<AssumedRoleId>{session.assumed_role_id}</AssumedRoleId></AssumedRoleUser>"
                f"<Credentials><AccessKeyId>{session.access_key_id}</AccessKeyId>"
                f"<SecretAccessKey>{session.secret_access_key}</SecretAccessKey>"
                f"<SessionToken>{session.session_token}</SessionToken>"
                f"<Expiration>{_timestamp(session.expiration)}</Expiration></Credentials>"
                f"<Audience>{WEB_IDENTITY_AUDIENCE}</Audience>",
            )
        if action == "GetCallerIdentity":
            session = self.aws.caller(self._access_key_id(), self.headers.get("X-Amz-Security-Token", ""))
            account = session.assumed_role_arn.split(":")[4]
            return _xml(
                action,
                request_id,
                f"<Arn>{session.assumed_role_arn}</Arn><UserId>{session.assumed_role_id}</UserId>"
                f"<Account>{account}</Account>",
            )
        raise RefusedError("InvalidAction", f"{action} is not served here")

    def _access_key_id(self) -> str:
        """From a SigV4 Authorization header: `... Credential=AKID/date/region/sts/aws4_request, ...`."""
        authorization = self.headers.get("Authorization", "")
        _, _, credential = authorization.partition("Credential=")
        return credential.split("/", 1)[0]


def _xml(action: str, request_id: str, result: str) -> str:
    return (
        f'<{action}Response xmlns="{STS_NAMESPACE}"><{action}Result>{result}</{action}Result>'
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    )


class _AgentHandler(_Handler):
    def do_GET(self) -> None:
        if self.path != CREDENTIALS_PATH:
            self._reply(404, json.dumps({"message": "not found"}), "application/json")
            return
        try:
            session = self.aws.pod_identity_credentials(self.headers.get("Authorization", ""))
        except RefusedError as refused:
            status = 400 if refused.code == "InvalidIdentityToken" else refused.status
            self._reply(
                status, json.dumps({"code": refused.code, "message": refused.message}), "application/json"
            )
            return
        account = session.assumed_role_arn.split(":")[4]
        self._reply(
            200,
            json.dumps(
                {
                    "AccessKeyId": session.access_key_id,
                    "SecretAccessKey": session.secret_access_key,
                    "Token": session.session_token,
                    "Expiration": _timestamp(session.expiration),
                    "AccountId": account,
                }
            ),
            "application/json",
        )


@dataclass
class Servers:
    """The running STS and agent, on loopback ports of their own."""

    sts: ThreadingHTTPServer
    agent: ThreadingHTTPServer
    threads: Sequence[threading.Thread]

    @property
    def sts_url(self) -> str:
        return f"http://127.0.0.1:{self.sts.server_address[1]}"

    @property
    def agent_url(self) -> str:
        return f"http://127.0.0.1:{self.agent.server_address[1]}{CREDENTIALS_PATH}"

    def stop(self) -> None:
        for server in (self.sts, self.agent):
            server.shutdown()
            server.server_close()
        for thread in self.threads:
            thread.join()


def serve(aws: LocalAws) -> Servers:
    servers = []
    threads = []
    for base in (_StsHandler, _AgentHandler):
        handler = type(base.__name__, (base,), {"aws": aws})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name=base.__name__, daemon=True)
        thread.start()
        servers.append(server)
        threads.append(thread)
    return Servers(sts=servers[0], agent=servers[1], threads=threads)
