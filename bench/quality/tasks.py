"""A small hand-written query -> relevant-pattern set in the bank's own domain (agent task notes).

Written for this project (no third-party data). Each topic has 2-3 stored patterns that describe
the same job in different words; each query restates that job the way an agent might ask before
acting. Some queries share key words with their patterns, many are paraphrases that share few or
none, so the set separates exact-word matching from meaning. Relevant = every pattern of the topic.
The other topics' patterns act as distractors, several on purpose near in wording.
"""

TOPICS = [
    # (patterns, queries)
    (
        [
            "add oauth token refresh to the api client",
            "renew expired access tokens automatically before calling the backend",
        ],
        ["refresh oauth tokens", "keep the login session alive when the access token runs out"],
    ),
    (
        [
            "fix database connection pool leak under load",
            "connections to postgres are never returned to the pool",
        ],
        ["db pool exhaustion after a few hours", "postgres runs out of connections"],
    ),
    (
        [
            "paginate large query results in the rest endpoint",
            "return list responses page by page with a cursor",
        ],
        ["api returns too many rows at once", "add cursor based pagination"],
    ),
    (
        ["cache expensive lookups in redis", "memoize slow product queries with a ttl cache"],
        ["speed up repeated slow database reads", "put a redis cache in front of the catalog"],
    ),
    (
        [
            "add rate limiting middleware to the public api",
            "throttle clients that send too many requests",
        ],
        ["limit requests per user per minute", "stop one customer from flooding the endpoint"],
    ),
    (
        [
            "retry failed webhook deliveries with exponential backoff",
            "resend webhook events when the receiver times out",
        ],
        ["webhooks get lost when the partner is down", "backoff and retry outgoing callbacks"],
    ),
    (
        ["build responsive login form", "make the sign in page work on phones and tablets"],
        ["login screen breaks on mobile", "responsive sign-in form"],
    ),
    (
        ["fix flickering modal dialog", "popup window blinks when it opens"],
        ["modal flicker on open", "dialog flashes before rendering"],
    ),
    (
        [
            "lazy load product images below the fold",
            "defer loading pictures until they scroll into view",
        ],
        ["page is slow because of many images", "load images only when visible"],
    ),
    (
        ["add dark mode toggle to settings", "let users switch between light and dark themes"],
        ["night theme option", "dark mode"],
    ),
    (
        ["debounce the search input", "wait until the user stops typing before querying"],
        ["search fires a request on every keystroke", "debounce search box"],
    ),
    (
        [
            "set up ci pipeline to run tests on every push",
            "configure continuous integration for the repository",
        ],
        ["run the test suite automatically on pull requests", "ci for tests"],
    ),
    (
        ["containerize the python service with docker", "write a dockerfile for the flask app"],
        ["package the python app as a container image", "dockerize the web service"],
    ),
    (
        ["rotate tls certificates before they expire", "renew https certificates automatically"],
        ["ssl cert expired and the site went down", "automate certificate renewal"],
    ),
    (
        [
            "configure blue green deploy",
            "release with two identical environments and switch traffic",
        ],
        ["deploy without downtime by swapping environments", "blue/green deployment"],
    ),
    (
        ["tune kubernetes autoscaling for the api pods", "scale pods up when cpu is high"],
        [
            "horizontal pod autoscaler thresholds",
            "the cluster does not scale during traffic spikes",
        ],
    ),
    (
        ["back up the database nightly", "schedule daily dumps of postgres to object storage"],
        ["we have no backups of production data", "nightly db backup job"],
    ),
    (
        ["deduplicate customer records", "merge duplicate user accounts that share an email"],
        ["same customer appears twice in crm", "remove duplicate customers"],
    ),
    (
        ["detect anomalies in service metrics", "alert when latency suddenly deviates from normal"],
        ["find unusual spikes in monitoring data", "anomaly detection on metrics"],
    ),
    (
        ["train churn prediction model", "predict which subscribers will cancel next month"],
        ["forecast customer churn", "which users are likely to leave"],
    ),
    (
        ["export report to csv", "let analysts download the table as a spreadsheet file"],
        ["download results as csv", "save the report for excel"],
    ),
    (
        ["profile slow sql query", "find out why the orders query takes seconds"],
        ["query is slow, check the execution plan", "explain analyze a slow select"],
    ),
    (
        ["sanitize html user input to prevent xss", "escape untrusted markup in comments"],
        ["cross site scripting in the comment box", "strip script tags from user content"],
    ),
    (
        ["hash passwords with argon2", "store user passwords with a slow salted hash"],
        ["passwords are stored in plain text", "secure password storage"],
    ),
    (
        [
            "audit third party packages for known vulnerabilities",
            "check dependencies against the cve database",
        ],
        ["scan our npm dependencies for security issues", "dependency vulnerability audit"],
    ),
    (
        ["add two factor login", "require a one time code from an authenticator app at sign in"],
        ["enable 2fa", "second factor authentication with totp"],
    ),
    (
        ["encrypt secrets at rest", "keep api keys encrypted in the config store"],
        ["credentials are readable on disk", "encryption of stored secrets"],
    ),
    (
        ["lock down cors origins", "only allow our own domains to call the api from browsers"],
        ["cross origin requests from any site are accepted", "restrict cors"],
    ),
]


def load():
    """-> (corpus, queries, relevant) with relevant[i] = set of corpus indices for queries[i]."""
    corpus, queries, relevant = [], [], []
    for pats, qs in TOPICS:
        ids = set(range(len(corpus), len(corpus) + len(pats)))
        corpus.extend(pats)
        for q in qs:
            queries.append(q)
            relevant.append(ids)
    return corpus, queries, relevant
