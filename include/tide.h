/* SPDX-License-Identifier: MIT */
/*
 * tide.h - umbrella header of tide, the library that lets long-running
 * programs give memory back.
 */
#ifndef TIDE_H
#define TIDE_H

#include <tide/common.h>
#include <tide/kv.h>
#include <tide/vec.h>
#include <tide/shrinker.h>
#include <tide/pressure.h>
#include <tide/arena.h>
#include <tide/ctl.h>

#endif /* TIDE_H */
