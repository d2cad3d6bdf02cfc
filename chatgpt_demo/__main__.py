"""`python -m chatgpt_demo serve|chat`: the chat demo on the committed SavedModels.

    python -m chatgpt_demo serve                       # the web page at http://127.0.0.1:8000
    python -m chatgpt_demo serve --host 0.0.0.0 --port 8080
    python -m chatgpt_demo chat                        # the same chat in the terminal

Neither trains nor downloads anything: they load saved_models/ with
`tf.saved_model.load` (build those with `python -m chatgpt_demo.build_models`).
"""

import argparse
import pathlib
import sys

from chatgpt_demo import engine


def _parser():
    parser = argparse.ArgumentParser(prog="python -m chatgpt_demo",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=pathlib.Path, default=engine.DEFAULT_MODELS_DIR,
                        help="the folder of <name>/<version>/ SavedModels (default saved_models/)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default="127.0.0.1",
                       help="interface to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="allow browser requests from ORIGIN (repeatable); none by default")
    serve.add_argument("--only", action="append", default=None, metavar="NAME",
                       help="serve this model folder only (repeatable); default: all of them")
    serve.add_argument("--workers", type=int, default=2, help="threads that run TensorFlow")
    serve.add_argument("--no-warm-up", action="store_true",
                       help="skip compiling the signatures before serving")
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))

    chat = commands.add_parser("chat", help="chat in the terminal")
    chat.add_argument("--model", default=None, help="a chat model's folder name")
    chat.add_argument("--speaker", default=None, help="your character's name (default HORATIO)")
    chat.add_argument("--temperature", type=float, default=None)
    chat.add_argument("--top-k", type=int, default=None)
    chat.add_argument("--max-new-tokens", type=int, default=None)
    chat.add_argument("--seed", type=int, default=None, help="default: a new one each reply")
    chat.add_argument("--candidates", action="store_true",
                      help="after each reply, show the 3 likeliest candidates of each step")
    return parser


def serve(args):
    import uvicorn

    from chatgpt_demo import server

    print(f"Loading the models in {args.models} ...", flush=True)
    registry = engine.ModelRegistry.load(args.models, names=args.only)
    if not args.no_warm_up:
        print("Compiling the signatures (a few seconds) ...", flush=True)
        registry.warm_up()
    limits = server.Limits(workers=args.workers)
    app = server.create_app(registry, limits, cors_origins=args.cors_origin)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"\n  Serving {', '.join(sorted(registry.models))}.\n"
          f"  Open http://{host}:{args.port} to chat (Ctrl-C stops the server).\n", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            serve(args)
        else:
            from chatgpt_demo import terminal

            terminal.chat(args)
    except (FileNotFoundError, engine.RequestError) as error:
        print(f"chatgpt_demo: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
