"""Text to speech: providers (edge-tts, ElevenLabs, offline eSpeak NG) behind one interface
(`base.TtsProvider`, looked up with `registry.get_provider`), silence tightening on decoded PCM
(`silence`), word timings as SRT and JSON (`timings`), and the ffmpeg argument lists of the TTS
job types (`commands`). `synthesis.speak` ties a provider, the offline fallback and the
post-processing together for the `tts` job."""
