from setuptools import setup

setup(
    name="tchat",
    version="0.1.0",
    description="A chat server on Twisted: terminals, browsers and programs in the same rooms.",
    long_description=open("README.rst", encoding="utf-8").read(),
    long_description_content_type="text/x-rst",
    python_requires=">=3.11",
    # Listed by hand: find_packages() would ship tests/, and twisted.plugins
    # must be named so that its (init-less) folder is installed.
    packages=["tchat", "tchat.chat", "tchat.cluster", "tchat.commands", "tchat.door", "tchat.door.web", "tchat.door.irc", "tchat.client", "tchat.store", "tchat.web", "tchat.bench", "twisted.plugins"],
    package_data={
        "tchat.store": ["schema/*/*.sql"],
        "tchat.web": ["static/*", "static/*/*"],
    },
    install_requires=[
        "twisted[tls]>=24.7",
        "termcolor>=2.4",
        "autobahn[twisted]>=24.4",
        "argon2-cffi>=23.1",
        "psycopg[binary]>=3.1",
        "prometheus-client>=0.20",
        "txredisapi>=1.6",
        "confusable-homoglyphs>=3.3",
        "irctokens>=2.0",
        # Encodes every JSON event (tchat.codec): a third of json's time; tchat falls back to json without it.
        "orjson>=3.9",
    ],
    extras_require={
        # benchmarks/compare draws its plots with matplotlib.
        "bench": ["matplotlib>=3.8"],
        "test": ["pytest>=8", "hypothesis>=6", "selenium>=4.20", "docutils>=0.20", "mypy>=1.10", "mypy-zope>=1.0", "irc-parser-tests>=0.0.4", "PyYAML>=6"],
    },
    entry_points={
        "console_scripts": [
            "tchat-client = tchat.client.main:main",
            "tchat-admin = tchat.store.admin:main",
            "tchat-bench = tchat.bench.cli:main",
        ]
    },
)
