"""The chat in a terminal: `python -m chatgpt_demo chat`.

Each reply is printed as it is generated, one `decode_step` at a time.
Type /reset to start over, /quit (or Ctrl-D) to leave.
"""

import random
import sys

from chatgpt_demo import engine


def chat(args, stdin=sys.stdin, stdout=sys.stdout):
    registry = engine.ModelRegistry.load(args.models, names=[args.model] if args.model else None)
    model = registry.get(args.model) if args.model else registry.first("generator", chat=True)
    if model is None or model.chat is None:
        raise engine.RequestError("No chat model in the models folder")
    persona = model.chat["persona"]
    speaker = (args.speaker or model.chat["user_speaker"]).upper()
    interactive = stdin.isatty()
    print(f"Chatting with {persona} ({model.name}, {model.context}-character context). "
          "/reset starts over, /quit leaves.\n", file=stdout, flush=True)
    history = []
    while True:
        if interactive:
            stdout.write(f"{speaker}: ")
            stdout.flush()
        line = stdin.readline()
        if not line:  # end of input
            break
        message = line.strip()
        if message in ("/quit", "/exit"):
            break
        if message == "/reset":
            history = []
            print("(a new conversation)\n", file=stdout)
            continue
        if not message:
            continue
        if not interactive:
            print(f"{speaker}: {message}", file=stdout)
        stream = engine.Stream(
            model, engine.chat_prompt(model, message, history, speaker),
            args.max_new_tokens, args.temperature, args.top_k, None,
            args.seed if args.seed is not None else random.randrange(2**31),
            model.chat["stop"], keep_prompt=True,
        )
        stream.start()
        stdout.write(f"{persona}: ")
        stdout.flush()
        printed = 0
        while not stream.finished:
            stream.step()
            # Line breaks are printed once text follows them: the stop's never are.
            shown = stream.text.strip("\n")
            stdout.write(shown[printed:])
            stdout.flush()
            printed = len(shown)
        stdout.write("\n\n")
        if args.candidates:
            for step in stream.steps:
                top = ", ".join(f"{_show(t)} {p:.0%}" for t, p in step.candidates[:3])
                stdout.write(f"  {_show(step.text):>3} <- {top}\n")
            stdout.write("\n")
        stdout.flush()
        history += [("user", message), ("assistant", stream.reply)]


def _show(text):
    return repr(text)[1:-1] or "''"
